from plugin_sdk import serve

from .plugin import plugin

serve(plugin)
