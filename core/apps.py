from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Site plumbing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model, user_logged_in
        from django.contrib.auth.models import update_last_login as django_update_last_login
        from django.db.models.signals import post_delete, post_save

        from config.auth_backends import forget, update_last_login

        # Wherever a user is saved (admin, shell, command), a cached copy of the row is dropped.
        for signal in (post_save, post_delete):
            signal.connect(forget, sender=get_user_model(), dispatch_uid="auth-user-cache")
        user_logged_in.disconnect(django_update_last_login, dispatch_uid="update_last_login")
        user_logged_in.connect(update_last_login, dispatch_uid="update_last_login_and_cache")
