"""The four commands: each module has build_parser() and main(argv=None, runtime=None) -> int."""
