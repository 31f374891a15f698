// The nftables proxier of one IP family: the shared proxier core driving the nftables backend.
import type { Nftables } from '../../kernel/nft/nftables.ts';
import type { LocalDetector } from '../../proxy/local-detector.ts';
import { type CoreOptions, Proxier } from '../../proxy/proxier.ts';
import { NftablesBackend } from './backend.ts';

export interface ProxierOptions extends CoreOptions {
  readonly nft: Nftables;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly localDetector: LocalDetector;
}

export class NftablesProxier extends Proxier {
  constructor(opts: ProxierOptions) {
    super(
      opts,
      new NftablesBackend({
        family: opts.family,
        nft: opts.nft,
        logger: opts.logger,
        masqueradeAll: opts.masqueradeAll,
        masqueradeBit: opts.masqueradeBit,
        localDetector: opts.localDetector.nft,
      }),
    );
  }
}
