from voc.cli import app

app(prog_name="voc")
