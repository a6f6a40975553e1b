import { BaseCommand } from '../../src/cli/base-command.js';
import { encodeKey, generatePresharedKey } from '../../src/mesh/keys.js';

export default class NodeGenpsk extends BaseCommand {
  static override summary = 'Print a new preshared key (base64), like `wg genpsk`';
  static override examples = ['<%= config.bin %> node genpsk'];

  async run(): Promise<void> {
    await this.parse(NodeGenpsk);
    this.out(encodeKey(generatePresharedKey()));
  }
}
