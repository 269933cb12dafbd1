"""longpoll peers."""
