"""Bad targets for ``lstm-replica check``: candidates the harness cannot check (exit 2) or that prove themselves wrong
in ways that are not arithmetic (exit 1). Each is named by a target string, as a researcher would pass it.
"""
