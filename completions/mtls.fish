complete --keep-order --exclusive --command mtls --arguments "(COMPLETE=fish mtls -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
