"""`cryptopipe bench`: each stage and the whole pipeline measured beside the peers users pick."""
