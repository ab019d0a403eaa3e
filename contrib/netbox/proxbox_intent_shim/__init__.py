"""NetBox plugin connecting netbox-branching merges to the proxbox-intent service.

Settings (``PLUGINS_CONFIG["proxbox_intent_shim"]``, each falling back to an environment variable):

- ``url`` / ``PROXBOX_INTENT_URL``: base URL of the service, without ``/api/v1``.
- ``token`` / ``PROXBOX_INTENT_TOKEN``: token of a proxbox-intent user holding ``view`` (merge preflight).
- ``apply_token`` / ``PROXBOX_INTENT_APPLY_TOKEN``: token holding ``trigger_apply`` (post-merge trigger);
  defaults to ``token``.
- ``post_merge`` / ``PROXBOX_INTENT_POST_MERGE``: also start the apply from netbox-branching's
  ``post_merge`` signal (default off; the webhook and the service's reconciler do it otherwise).
"""

from netbox.plugins import PluginConfig

__version__ = "0.1.0"


class ProxboxIntentShimConfig(PluginConfig):
    name = "proxbox_intent_shim"
    verbose_name = "proxbox-intent shim"
    description = "Merge preflight and optional post-merge trigger for the proxbox-intent service"
    version = __version__
    author = "proxbox-intent"
    base_url = "proxbox-intent-shim"
    required_settings = []
    default_settings = {"url": "", "token": "", "apply_token": ""}

    def ready(self):
        super().ready()
        from netbox_branching.models import Branch
        from netbox_branching.signals import post_merge

        from .validators import post_merge_enabled, proxbox_intent_merge_validator, proxbox_intent_post_merge

        Branch.register_preaction_check(proxbox_intent_merge_validator, "merge")
        if post_merge_enabled():
            post_merge.connect(proxbox_intent_post_merge, dispatch_uid="proxbox_intent_shim.post_merge")


config = ProxboxIntentShimConfig
