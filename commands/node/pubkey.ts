import { BaseCommand } from '../../src/cli/base-command.js';
import { InputError } from '../../src/errors.js';
import { decodeKey, encodeKey, publicKeyOf } from '../../src/mesh/keys.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new InputError('node pubkey reads a private key on stdin', 'pipe one in: `netmend node genkey | netmend node pubkey`');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export default class NodePubkey extends BaseCommand {
  static override summary = 'Read a private key on stdin and print its public key, like `wg pubkey`';
  static override examples = ['<%= config.bin %> node pubkey < mesh0.key', '<%= config.bin %> node genkey | tee mesh0.key | <%= config.bin %> node pubkey'];

  async run(): Promise<void> {
    await this.parse(NodePubkey);
    const privateKey = decodeKey(await readStdin(), 'stdin');
    this.out(encodeKey(publicKeyOf(privateKey)));
  }
}
