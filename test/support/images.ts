/** Test support: images made in memory. */
import sharp from 'sharp';

/** A width×height RGB image whose left `split` columns are `left` and the rest `right`. */
export function twoColourRaw(width: number, height: number, split: number, left: number[], right: number[]): Buffer {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const colour = x < split ? left : right;
      raw.set(colour, (y * width + x) * 3);
    }
  }
  return raw;
}

export function rawToSharp(raw: Buffer, width: number, height: number, channels: 1 | 3 | 4 = 3): sharp.Sharp {
  return sharp(raw, { raw: { width, height, channels } });
}

/** Model input value for a 0–255 channel value, as Teachable Machine computes it. */
export function modelValue(byte: number): number {
  return byte / 127 - 1;
}

/** RGB model-input triple at (x, y) of a 224×224×3 tensor. */
export function pixelAt(pixels: Float32Array, x: number, y: number): number[] {
  const i = (y * 224 + x) * 3;
  return [pixels[i], pixels[i + 1], pixels[i + 2]];
}

/** A PNG whose header declares width×height but holds almost no data: a decompression bomb. */
export function pngDeclaring(width: number, height: number): Buffer {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    signature,
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A small PNG (64×64) carrying a tEXt chunk of `textBytes` bytes: metadata that costs memory, not pixels. */
export async function pngWithText(textBytes: number): Promise<Buffer> {
  const png = await sharp(twoColourRaw(64, 64, 32, [200, 30, 30], [30, 30, 200]), {
    raw: { width: 64, height: 64, channels: 3 },
  })
    .png()
    .toBuffer();
  const text = Buffer.concat([Buffer.from('Comment\0', 'latin1'), Buffer.alloc(textBytes, 'a')]);
  // After the signature and IHDR (8 + 25 bytes), before the image data.
  return Buffer.concat([png.subarray(0, 33), chunk('tEXt', text), png.subarray(33)]);
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
