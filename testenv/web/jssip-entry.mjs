// The esbuild entry of the JsSIP bundle the browser test loads into a page: JsSIP, the SIP
// library the reference web library is built on, as a global.
import JsSIP from 'jssip';
globalThis.JsSIP = JsSIP;
