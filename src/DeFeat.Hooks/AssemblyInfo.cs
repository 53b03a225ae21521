// DeFeat.Hooks: taps, frozen teacher, proposal delivery, distiller (being implemented).
