"""The HTTP/2 connection preface, fed to the HTTP/1.1 adapter (the server routes h2c before it)."""

h2_preface = True
status = 400
