"""Extensions shipped with the app; each one uses only the public hook mechanisms."""
