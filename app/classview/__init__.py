"""The class view: the instructor's live page during class and the analysis page after it."""
