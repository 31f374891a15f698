// The kernelspace proxier of one IP family: the shared proxier core driving the winkernel backend.
import { type CoreOptions, Proxier } from '../../proxy/proxier.ts';
import { WinkernelBackend, type WinkernelBackendOptions } from './backend.ts';

export interface WinkernelProxierOptions extends CoreOptions {
  readonly backend: Omit<WinkernelBackendOptions, 'family' | 'logger' | 'observer'>;
}

export class WinkernelProxier extends Proxier {
  declare readonly backend: WinkernelBackend;

  constructor(opts: WinkernelProxierOptions) {
    super(
      opts,
      new WinkernelBackend({
        ...opts.backend,
        family: opts.family,
        logger: opts.logger,
        ...(opts.observer && { observer: opts.observer }),
      }),
    );
  }
}
