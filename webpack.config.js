// webpack 5: assets/js/main.js (+ its CSS) -> files in assets/dist/bundles/ (content-hashed
// in production), and assets/dist/webpack-stats.json, the manifest django-webpack-loader reads.
// Django's staticfiles serves assets/dist/bundles/ under STATIC_URL + "bundles/".
const path = require("node:path");
const MiniCssExtractPlugin = require("mini-css-extract-plugin");
const BundleTracker = require("webpack-bundle-tracker");

const distDir = path.resolve(__dirname, "assets/dist");

module.exports = (env, argv) => {
  const production = argv.mode !== "development";
  // Content hashes in production (cached for ever). In development (`npm run dev`, the
  // compose stack's watcher) a rebuild rewrites the same files, main.js and main.css:
  // Django's autoreloader sees a changed file, not a new one, so django-browser-reload
  // reloads the page.
  const name = production ? "[name].[contenthash:8]" : "[name]";
  return {
    mode: production ? "production" : "development",
    context: __dirname,
    entry: { main: "./assets/js/main.js" },
    output: {
      path: path.join(distDir, "bundles"),
      filename: `${name}.js`,
      chunkFilename: `${name}.js`,
      // "auto": webpack-loader then builds URLs with Django's staticfiles storage.
      publicPath: "auto",
      clean: true,
    },
    devtool: production ? false : "source-map",
    module: {
      rules: [{ test: /\.css$/i, use: [MiniCssExtractPlugin.loader, "css-loader"] }],
    },
    plugins: [
      new MiniCssExtractPlugin({ filename: `${name}.css` }),
      new BundleTracker({ path: distDir, filename: "webpack-stats.json", relativePath: true }),
    ],
  };
};
