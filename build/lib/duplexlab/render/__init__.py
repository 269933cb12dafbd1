"""Results into text: the terminal table, the JSON document and its schema, HTML ladders, Mermaid."""
