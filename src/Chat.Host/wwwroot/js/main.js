// Entry point: one ChatClient talking to /ws on this host, one ChatView on this page.

import { ChatClient } from './chat-client.js';
import { ChatView } from './ui.js';

const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
const client = new ChatClient({ url: `${scheme}://${window.location.host}/ws` });
const view = new ChatView(client);
view.mount();

window.addEventListener('online', () => client.networkBack());
