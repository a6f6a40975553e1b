#!/usr/bin/env python3
"""Sends hand-built IPv4 and IPv6 packets for the path lab tests, one per stdin line:
   SRC DST PROTO SPORT DPORT MARK IPID DSCP   (PROTO: tcp udp icmp; ports 0 for icmp)
TCP is a SYN, UDP a 4-byte datagram, ICMP an echo request (ICMPv6 for IPv6 addresses); checksums
are correct so conntrack tracks them. IPID is the IPv4 id, or the IPv6 flow label (20 bits), so
the packet is found in the trace. SO_MARK gives the packet the mark. Prints "sent" or
"error ERRNO" per line.
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


def l4_header(proto, sport, dport, ipid, pseudo, v6):
    """The layer 4 header and payload with its checksum; pseudo(number, length) is the pseudo header."""
    if proto == 'tcp':
        header = struct.pack('!HHIIBBHHH', sport, dport, ipid * 7919, 0, 5 << 4, 0x02, 64240, 0, 0)
        return 6, header[:16] + struct.pack('!H', checksum(pseudo(6, len(header)) + header)) + header[18:]
    if proto == 'udp':
        body = b'ping'
        header = struct.pack('!HHHH', sport, dport, 8 + len(body), 0)
        value = checksum(pseudo(17, 8 + len(body)) + header + body) or 0xffff
        return 17, header[:6] + struct.pack('!H', value) + body
    if v6:
        header = struct.pack('!BBHHH', 128, 0, 0, ipid & 0xffff, 1) + b'netmend!'
        return 58, header[:2] + struct.pack('!H', checksum(pseudo(58, len(header)) + header)) + header[4:]
    header = struct.pack('!BBHHH', 8, 0, 0, ipid, 1) + b'netmend!'
    return 1, header[:2] + struct.pack('!H', checksum(header)) + header[4:]


def packet(src, dst, proto, sport, dport, ipid, dscp):
    if ':' in dst:
        s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
        number, l4 = l4_header(proto, sport, dport, ipid, lambda n, length: s + d + struct.pack('!IxxxB', length, n), True)
        first = (6 << 28) | ((dscp << 2) << 20) | (ipid & 0xfffff)
        return struct.pack('!IHBB16s16s', first, len(l4), number, 64, s, d) + l4
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    number, l4 = l4_header(proto, sport, dport, ipid, lambda n, length: s + d + struct.pack('!BBH', 0, n, length), False)
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
    # IPPROTO_RAW sockets take the whole packet, IP header included (IPv6 too, since Linux 4.5).
    socks = {4: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW),
             6: socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)}
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
                sock = socks[6 if ':' in dst else 4]
                sock.setsockopt(socket.SOL_SOCKET, SO_MARK, int(mark, 0))
                sock.sendto(data, (dst, 0, 0, 0) if ':' in dst else (dst, 0))
            print('sent', flush=True)
        except OSError as error:
            print('error %d' % error.errno, flush=True)


main()
