"""duplexlab analysis: capture file -> wire events -> invariant findings -> report."""
