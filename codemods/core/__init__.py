"""The shared core: the recipe, the workspace (the only code that opens the user's files), the journal, names, sections and notebook cells. It imports no wing."""
