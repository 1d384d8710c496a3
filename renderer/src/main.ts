import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';

const saved = localStorage.getItem('gradproof-theme');
const dark = saved ? saved === 'dark' : window.matchMedia('(prefers-color-scheme: dark)').matches;
document.documentElement.dataset.theme = dark ? 'dark' : 'light';

export default mount(App, { target: document.getElementById('app')! });
