/**
 * `nestjs-socket-auth/passport`: the app's existing Passport strategies
 * (`@nestjs/passport`), reused to authenticate sockets. Its own entry point:
 * nothing here loads Passport itself, only the app's strategy instance.
 */
export { fromPassport, type PassportSocketOptions } from './passport-socket.strategy.js';
