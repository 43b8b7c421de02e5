"""The HTTP/2 connection preface (h2c with prior knowledge is not supported yet)."""

h2_preface = True
status = 400
