// Entry point of the webpack bundle: pulls in the styles and shows that the JS ran.
import "../css/main.css";

function markBundleLoaded() {
  const status = document.getElementById("bundle-status");
  if (status) {
    status.textContent = "The JavaScript bundle is loaded.";
  }
  document.body.dataset.bundle = "loaded";
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", markBundleLoaded);
} else {
  markBundleLoaded();
}
