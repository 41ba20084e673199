/**
 * Deploys an AnchorRegistry and authorises the anchorer accounts (operator tooling).
 *
 *   npx hardhat compile
 *   MEDPROV_EVM_RPC_URL=http://127.0.0.1:8545 MEDPROV_EVM_OWNER_KEY=0x… \
 *   MEDPROV_ANCHORERS=0xAnchorer1,0xAnchorer2 MEDPROV_CHANNEL=medprov npx tsx scripts/evm/deploy-registry.ts
 *
 * Prints the settings the gateway's checkpointer needs (MEDPROV_ANCHOR_REGISTRY_ADDRESS and
 * MEDPROV_ANCHOR_REGISTRY_FROM_BLOCK); the owner key is never printed and should not be the
 * anchorer key.
 */
import { isAddress } from 'ethers';
import { deployAnchorRegistry, REGISTRY_ENV } from '../../gateway/src/anchoring/node';

async function main(): Promise<void> {
  const rpcUrl = process.env[REGISTRY_ENV.rpcUrl];
  const ownerKey = process.env.MEDPROV_EVM_OWNER_KEY;
  const channel = process.env.MEDPROV_CHANNEL ?? 'medprov';
  const anchorers = (process.env.MEDPROV_ANCHORERS ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  if (!rpcUrl || !ownerKey) {
    console.error(`Set ${REGISTRY_ENV.rpcUrl} and MEDPROV_EVM_OWNER_KEY (and MEDPROV_ANCHORERS, comma-separated).`);
    process.exit(2);
  }
  const bad = anchorers.filter((a) => !isAddress(a));
  if (bad.length > 0) {
    console.error(`Not EVM addresses: ${bad.join(', ')}`);
    process.exit(2);
  }
  const { address, blockNumber } = await deployAnchorRegistry({ rpcUrl, ownerKey, channel, anchorers });
  console.log(`${REGISTRY_ENV.address}=${address}`);
  console.log(`${REGISTRY_ENV.fromBlock}=${blockNumber}`);
  console.log(`# channel ${channel}, anchorers: ${anchorers.length > 0 ? anchorers.join(', ') : 'none (add them with addAnchorer)'}`);
}

main().catch((err: unknown) => {
  console.error((err as Error).message);
  process.exit(1);
});
