import { subtask } from 'hardhat/config';
import type { HardhatUserConfig } from 'hardhat/config';
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from 'hardhat/builtin-tasks/task-names';
import type { SolcBuild } from 'hardhat/types';
import '@nomicfoundation/hardhat-ethers';
import '@nomicfoundation/hardhat-chai-matchers';

// The compiler version is taken from the installed solc npm package so the
// configured version and the compiler actually used can never drift apart.
const SOLC_VERSION: string = require('solc/package.json').version;

// Hardhat normally downloads solc from binaries.soliditylang.org, which fails
// offline (HH502). Serve the solcjs build bundled with the solc npm package
// instead; any other requested version still goes through the default path.
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD).setAction(
  async (args: { quiet: boolean; solcVersion: string }, _hre, runSuper): Promise<SolcBuild> => {
    if (args.solcVersion !== SOLC_VERSION) {
      return runSuper(args);
    }
    const solc: { version(): string } = require('solc');
    return {
      compilerPath: require.resolve('solc/soljson.js'),
      isSolcJs: true,
      version: SOLC_VERSION,
      longVersion: solc.version(),
    };
  },
);

const config: HardhatUserConfig = {
  solidity: {
    version: SOLC_VERSION,
    settings: {
      optimizer: { enabled: true, runs: 200 },
    },
  },
  paths: {
    sources: './contracts',
    tests: './test/contracts',
    cache: './cache',
    artifacts: './artifacts',
  },
};

export default config;
