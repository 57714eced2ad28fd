"""Where chat comes from: DiscordChatExporter exports, generated sample servers, the gateway."""
