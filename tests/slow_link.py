"""An ssh_config ProxyCommand that is a slow link: stdin/stdout <-> HOST:PORT, the server's
direction paced to RATE bytes a second (a real TCP connection to a real sshd, slowed)."""

import os
import socket
import sys
import threading
import time

host, port, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = socket.create_connection((host, port))


def upstream() -> None:
    while data := os.read(0, 65536):
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)


threading.Thread(target=upstream, daemon=True).start()
while data := conn.recv(4096):
    os.write(1, data)
    time.sleep(len(data) / rate)
