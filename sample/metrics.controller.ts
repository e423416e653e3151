import {
  Controller,
  ForbiddenException,
  Get,
  NotFoundException,
  Req,
  Res,
  UnauthorizedException,
} from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { metricsExporter } from './telemetry.js';

/** Whether an address is this machine's own: 127.0.0.0/8, ::1, and their IPv4-mapped IPv6 forms. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Whether `authorization` is `Bearer <token>`, compared in constant time. */
function bearerMatches(authorization: string | undefined, token: string): boolean {
  const given = authorization?.match(/^Bearer (.+)$/i)?.[1];
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

/**
 * `GET /metrics`: the module's metrics (and anything else recorded through
 * the global MeterProvider) in Prometheus's text format, from the
 * OpenTelemetry Prometheus exporter that sample/telemetry.ts registered.
 *
 * Protected, though the metrics carry no user ids, tokens or addresses: they
 * tell an outsider how many users are online, how many logins fail and when
 * a credential-stuffing run starts working. So:
 *   - METRICS_TOKEN set: only `Authorization: Bearer <METRICS_TOKEN>`, from
 *     anywhere (Prometheus's `authorization: { credentials }`); 401 otherwise.
 *   - unset: only requests from this machine (the socket's own peer address,
 *     never X-Forwarded-For); 403 otherwise. Behind a reverse proxy on the
 *     same machine every request comes from loopback: set METRICS_TOKEN, or
 *     keep /metrics out of the proxy.
 */
@Controller()
export class MetricsController {
  @Get('metrics')
  metrics(@Req() req: IncomingMessage, @Res() res: ServerResponse): void {
    const exporter = metricsExporter();
    if (!exporter) throw new NotFoundException('Metrics are not started (see sample/telemetry.ts)');
    const token = process.env.METRICS_TOKEN;
    if (token) {
      if (!bearerMatches(req.headers.authorization, token)) {
        res.setHeader('www-authenticate', 'Bearer realm="metrics"');
        throw new UnauthorizedException();
      }
    } else if (!isLoopback(req.socket.remoteAddress)) {
      throw new ForbiddenException(
        'Metrics are served to this machine only: set METRICS_TOKEN to scrape from elsewhere',
      );
    }
    exporter.getMetricsRequestHandler(req, res);
  }
}
