"""The phases of training and the run files between them (see ``bytepiece.trainer``)."""
