// Reads a JSON array of {key, nonce, ad, plaintext, tagSize, sealed} (hex)
// on stdin; for each, seals the plaintext with OpenSSL's AES-CCM (node's
// crypto) and tries to open "sealed". Writes a JSON array of
// {sealed, opened} to stdout. Used by ccm_test.go.
'use strict';
const crypto = require('crypto');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((c) => {
    const key = Buffer.from(c.key, 'hex');
    const nonce = Buffer.from(c.nonce, 'hex');
    const ad = Buffer.from(c.ad, 'hex');
    const pt = Buffer.from(c.plaintext, 'hex');
    const algo = 'aes-' + key.length * 8 + '-ccm';
    const e = crypto.createCipheriv(algo, key, nonce, { authTagLength: c.tagSize });
    e.setAAD(ad, { plaintextLength: pt.length });
    const sealed = Buffer.concat([e.update(pt), e.final(), e.getAuthTag()]);
    const s = Buffer.from(c.sealed, 'hex');
    let opened = false;
    try {
      const d = crypto.createDecipheriv(algo, key, nonce, { authTagLength: c.tagSize });
      d.setAuthTag(s.subarray(s.length - c.tagSize));
      d.setAAD(ad, { plaintextLength: s.length - c.tagSize });
      const got = Buffer.concat([d.update(s.subarray(0, s.length - c.tagSize)), d.final()]);
      opened = got.equals(pt);
    } catch (err) {
      opened = false;
    }
    return { sealed: sealed.toString('hex'), opened };
  });
  process.stdout.write(JSON.stringify(out));
});
