#!/usr/bin/env python3
"""Sends hand-built IPv4 packets for the path lab tests, one per stdin line:
   SRC DST PROTO SPORT DPORT MARK IPID DSCP   (PROTO: tcp udp icmp; ports 0 for icmp)
TCP is a SYN, UDP a 4-byte datagram, ICMP an echo request; checksums are correct so conntrack
tracks them. SO_MARK gives the packet the mark. Prints "sent" or "error ERRNO" per line.
With arguments `tun NAME` it creates TUN device NAME (prints "ready") and writes the packets into
it instead, so they arrive on NAME as a tunnel daemon's packets do."""
import fcntl
import os
import socket
import struct
import sys

SO_MARK = 36


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return (~total) & 0xffff


def packet(src, dst, proto, sport, dport, ipid, dscp):
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    if proto == 'tcp':
        number = 6
        header = struct.pack('!HHIIBBHHH', sport, dport, ipid * 7919, 0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = s + d + struct.pack('!BBH', 0, number, len(header))
        l4 = header[:16] + struct.pack('!H', checksum(pseudo + header)) + header[18:]
    elif proto == 'udp':
        number = 17
        body = b'ping'
        header = struct.pack('!HHHH', sport, dport, 8 + len(body), 0)
        pseudo = s + d + struct.pack('!BBH', 0, number, 8 + len(body))
        value = checksum(pseudo + header + body) or 0xffff
        l4 = header[:6] + struct.pack('!H', value) + body
    else:
        number = 1
        header = struct.pack('!BBHHH', 8, 0, 0, ipid, 1) + b'netmend!'
        l4 = header[:2] + struct.pack('!H', checksum(header)) + header[4:]
    total = 20 + len(l4)
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, dscp << 2, total, ipid, 0, 64, number, 0, s, d)
    ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
    return ip + l4


def open_tun(name):
    fd = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', name.encode(), 0x0001 | 0x1000))  # TUNSETIFF, IFF_TUN|IFF_NO_PI
    print('ready', flush=True)
    return fd


def main():
    tun = open_tun(sys.argv[2]) if len(sys.argv) == 3 and sys.argv[1] == 'tun' else None
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 8:
            continue
        src, dst, proto, sport, dport, mark, ipid, dscp = parts
        try:
            data = packet(src, dst, proto, int(sport), int(dport), int(ipid), int(dscp))
            if tun is not None:
                os.write(tun, data)
            else:
                sock.setsockopt(socket.SOL_SOCKET, SO_MARK, int(mark, 0))
                sock.sendto(data, (dst, 0))
            print('sent', flush=True)
        except OSError as error:
            print('error %d' % error.errno, flush=True)


main()
