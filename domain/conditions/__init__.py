"""The condition language of rules and rule segments."""
