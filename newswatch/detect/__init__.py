"""Detection: is an article the topic, what are its tags, which story does it belong to.

Pure logic, no I/O: the vocabulary is loaded once, then everything is a function of the text.
"""
