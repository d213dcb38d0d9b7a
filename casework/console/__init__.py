"""The case workers' web console: server-rendered pages, scripts and styles from static files."""
