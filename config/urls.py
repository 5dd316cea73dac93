"""URL routes: the home page, the health check and the admin."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, path

from core import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
