/**
 * Runs under another architecture's Node (qemu-user; see prebuild-qemu.test.ts): opens a TUN
 * device through the project's addon loader and answers the ICMP echo requests it reads. Prints
 * one JSON line once the device is open: which addon file loaded, for which Node and arch.
 */
import { openTun } from '../../src/mesh/tun.js';
import { nativeAddonStatus } from '../../src/native/addon.js';
import { echoReply } from './packets.js';

const device = openTun(process.argv[2]);
device.onPackets((packets) => {
  const replies = packets.map(echoReply).filter((reply): reply is Buffer => reply !== undefined);
  if (replies.length > 0) device.write(replies);
});
const armVersion = (process.config.variables as { arm_version?: string }).arm_version;
process.stdout.write(`${JSON.stringify({ addon: nativeAddonStatus(), arch: process.arch, armVersion, node: process.version, name: device.name })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  device.close();
  process.exit(0);
});
