/**
 * The one error control-plane decoders throw (RA options, DHCP option 212, headers decoded outside
 * the data plane). The message names the field, the offset and what was expected, as dns-packet's
 * "Cannot decode name (...)". Hot-path parsers never throw: they return a DropReason instead.
 */
export class DecodeError extends Error {
  override readonly name = "DecodeError";

  constructor(message: string) {
    super(message);
    Object.setPrototypeOf(this, DecodeError.prototype);
  }
}
