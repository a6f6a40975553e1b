import { BaseCommand } from '../../src/cli/base-command.js';
import { encodeKey, generatePrivateKey } from '../../src/mesh/keys.js';

export default class NodeGenkey extends BaseCommand {
  static override summary = 'Print a new private key (base64), like `wg genkey`';
  static override examples = ['(umask 077; <%= config.bin %> node genkey > mesh0.key)', '<%= config.bin %> node genkey | <%= config.bin %> node pubkey'];

  async run(): Promise<void> {
    await this.parse(NodeGenkey);
    this.out(encodeKey(generatePrivateKey()));
  }
}
