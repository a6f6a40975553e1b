/** The forward topic: the router carrying its LAN's traffic to and from the mesh, firewall included. */
import type { Check } from '../../types.js';
import cgnatDrop from './cgnat-drop.js';
import exitNodeLan from './exit-node-lan.js';
import firewallBackends from './firewall-backends.js';
import lanToMesh from './lan-to-mesh.js';
import meshPort from './mesh-port.js';
import meshToLan from './mesh-to-lan.js';

export const forwardChecks: readonly Check[] = [lanToMesh, exitNodeLan, meshToLan, meshPort, cgnatDrop, firewallBackends];
