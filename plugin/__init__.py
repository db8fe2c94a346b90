"""Desktop lifecycle of the plugin: Processing provider, menu and toolbar."""
