import type { ValidatorOptions } from 'class-validator';

/** class-validator's IsUrl options for an http(s) URL whose host may be a bare name (e.g. `backend`). */
export const HTTP_URL_OPTIONS: { protocols: string[]; require_protocol: boolean; require_tld: boolean } = {
  protocols: ['http', 'https'],
  require_protocol: true,
  require_tld: false,
};

/** Request bodies: unknown fields are an error, not silently dropped; one message per field. */
export const STRICT_VALIDATION: ValidatorOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  stopAtFirstError: true,
};
