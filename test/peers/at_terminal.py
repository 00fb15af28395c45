"""Runs a command on a pseudo-terminal (standard library pty), as a person at a terminal would, and
answers its first question.

    python3 at_terminal.py ANSWER COMMAND [ARG...]

Waits for the command to print "[y/N]", types ANSWER and Enter, prints everything the command printed
(stdout and stderr share the terminal) and exits with the command's exit code.
"""
import os
import pty
import sys


def read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the command has exited and closed the terminal
        return b""


def main() -> int:
    answer, *command = sys.argv[1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    seen = b""
    while b"[y/N]" not in seen:
        chunk = read_some(fd)
        if not chunk:
            break
        seen += chunk
    if b"[y/N]" in seen:
        os.write(fd, answer.encode() + b"\n")
    while True:
        chunk = read_some(fd)
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(seen.decode("utf-8", "replace"))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
