from perception.run import cli

cli()
