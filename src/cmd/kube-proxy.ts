import { runProcess } from './main.ts';

runProcess(process.argv.slice(2));
