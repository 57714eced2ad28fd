"""The Azure Functions deployment: thin triggers over the bot's own services."""
