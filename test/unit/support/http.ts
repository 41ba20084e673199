import type { OrgGateway } from './org-gateways';

/**
 * An API-key request to a test gateway: a JSON body (or a multipart FormData as it is), extra
 * headers, and back its status, Location header and JSON answer.
 */
export async function sendTo(
  gw: OrgGateway,
  method: string,
  p: string,
  key: string,
  body?: unknown | FormData,
  headers: Record<string, string> = {},
): Promise<{ status: number; location: string | null; body: any }> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${key}`, ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(gw.url + p, init);
  return { status: res.status, location: res.headers.get('location'), body: (await res.json()) as any };
}

/** A multipart upload of a document (the `document` part) with form fields, as POST /v1/records takes it. */
export function uploadForm(doc: Buffer, fields: Record<string, string> = {}, name = 'result.json'): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('document', new Blob([doc]), name);
  return form;
}
